"""Gatys et al. (2016) image optimisation, single- or multi-scale.

The image itself is the parameter: starting from the photo (or the painting, or noise) we
minimise ``content_weight·Lc + style_weight·Ls + tv_weight·Ltv`` with L-BFGS or Adam, the
losses measured on VGG features (see brushwork.losses for their exact form).

Departures from the paper, each for a reason:
* losses are divided by their targets' mean square, so weights mean the same for every layer
  and weight source;
* pixels live in [0, 1] and are clamped after each step, so the result never needs clipping;
* multi-scale: large outputs are first optimised at half size (and so on down to ~256 px),
  then upsampled and refined — coarse structure comes from the small scale, fine texture
  from the large one, and the total cost is only ~1.3x that of the last scale;
* L-BFGS keeps 20 correction pairs, not 100: the same results here at a fraction of the memory.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image

from brushwork import losses
from brushwork.config import StylizeConfig
from brushwork.errors import ConfigError, NonFiniteLossError, StylizeInterrupted
from brushwork.images import (
    image_to_tensor,
    open_image,
    resize_longest,
    resize_to,
    tensor_to_image,
    transfer_luminance,
)
from brushwork.networks.vgg import VGGFeatures
from brushwork.networks.weights import load_vgg

LBFGS_HISTORY = 20
MULTISCALE_MIN_SIZE = 256


@dataclass
class Iterate:
    """What a progress callback sees after each iteration."""

    iteration: int  # 1-based, counted over all scales
    total_iterations: int
    scale: int  # 0-based index of the current scale
    scales: int
    width: int
    height: int
    losses: dict[str, float]  # total, content, style, tv (weighted)
    seconds: float  # wall time of this iteration
    _image: torch.Tensor = field(repr=False)
    _render: Callable[[torch.Tensor], Image.Image] = field(repr=False)

    def image(self) -> Image.Image:
        """The current result as a picture (colour preservation applied when asked for)."""
        return self._render(self._image)


ProgressCallback = Callable[[Iterate], None]


def scale_sizes(size: int, multiscale: bool) -> list[int]:
    """Output sizes of each scale, smallest first: halving from ``size`` down to ~256 px."""
    sizes = [size]
    if multiscale:
        floor = min(MULTISCALE_MIN_SIZE, size // 2)
        while sizes[0] // 2 >= max(floor, 16):
            sizes.insert(0, sizes[0] // 2)
    return sizes


def _as_image(item: Image.Image | str | Path) -> Image.Image:
    return item if isinstance(item, Image.Image) else open_image(item)


def make_objective(vgg: VGGFeatures, config: StylizeConfig, content: torch.Tensor,
                   styles: list[torch.Tensor], blend: list[float]) -> losses.PerceptualObjective:
    """The loss at one scale: relative terms, style layer weights normalised to a weighted mean."""
    layer_weights = config.style_layer_weights or (1.0,) * len(config.style_layers)
    total = sum(layer_weights) or 1.0
    objective = losses.PerceptualObjective(
        vgg, config.content_layers, config.style_layers, [w / total for w in layer_weights],
        content_weight=config.content_weight, style_weight=config.style_weight,
        tv_weight=config.tv_weight, scaling="relative",
    )
    objective.set_content(content)
    objective.set_style(styles, blend)
    return objective


def _make_optimizer(config: StylizeConfig, image: torch.Tensor) -> torch.optim.Optimizer:
    lr = config.resolved_learning_rate
    if config.optimizer == "lbfgs":
        return torch.optim.LBFGS([image], lr=lr, max_iter=1, history_size=LBFGS_HISTORY)
    return torch.optim.Adam([image], lr=lr)


def _initial_image(config: StylizeConfig, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    if config.init == "content":
        return content.clone()
    if config.init == "style":
        return F.interpolate(style, size=content.shape[-2:], mode="bicubic", align_corners=False).clamp(0, 1)
    generator = torch.Generator().manual_seed(config.seed)
    return torch.rand(content.shape, generator=generator).to(content)


def stylize_tensor(
    content_image: Image.Image,
    style_images: Sequence[Image.Image],
    config: StylizeConfig,
    vgg: VGGFeatures | None = None,
    callback: ProgressCallback | None = None,
) -> torch.Tensor:
    """Run the optimisation; returns the result as a tensor [1, 3, H, W] in [0, 1]."""
    if not style_images:
        raise ConfigError("at least one style image is needed")
    blend = list(config.style_blend_weights or [1.0] * len(style_images))
    if len(blend) != len(style_images):
        raise ConfigError(f"{len(blend)} style blend weights for {len(style_images)} style images")
    torch.manual_seed(config.seed)
    device = torch.device(config.device)
    if vgg is None:
        vgg = load_vgg(config.model, config.weights, pooling=config.pooling, device=device)
    sizes = scale_sizes(config.size, config.resolved_multiscale)
    iterations = config.resolved_iterations
    total = iterations * len(sizes)
    final_content = resize_longest(content_image, config.size)
    final_content_tensor = image_to_tensor(final_content, device)

    def finish(tensor: torch.Tensor) -> torch.Tensor:
        if config.preserve_colors:
            tensor = transfer_luminance(tensor, final_content_tensor)
        return tensor

    def render(tensor: torch.Tensor) -> Image.Image:
        return tensor_to_image(finish(tensor))

    image: torch.Tensor | None = None
    done = 0
    for scale_index, size in enumerate(sizes):
        scaled = resize_longest(content_image, size)
        content = image_to_tensor(scaled, device)
        style_size = max(16, round(size * config.style_scale))
        styles = [image_to_tensor(resize_longest(s, style_size), device) for s in style_images]
        objective = make_objective(vgg, config, content, styles, blend)
        if image is None:
            first_style = image_to_tensor(resize_to(style_images[0], *scaled.size), device)
            image = _initial_image(config, content, first_style)
        else:
            image = F.interpolate(image, size=content.shape[-2:], mode="bicubic", align_corners=False)
            image = image.clamp(0, 1)
        image = _optimize_scale(objective, image, config, render, callback,
                                done=done, total=total, scale=scale_index, scales=len(sizes))
        done += iterations
    assert image is not None
    result = image.detach()
    if result.shape[-2:] != final_content_tensor.shape[-2:]:
        result = F.interpolate(result, size=final_content_tensor.shape[-2:], mode="bicubic",
                               align_corners=False).clamp(0, 1)
    return finish(result)


def _optimize_scale(
    objective: losses.PerceptualObjective,
    start: torch.Tensor,
    config: StylizeConfig,
    render: Callable[[torch.Tensor], Image.Image],
    callback: ProgressCallback | None,
    *,
    done: int,
    total: int,
    scale: int,
    scales: int,
) -> torch.Tensor:
    """One scale's optimiser steps from ``start``; clamps to [0, 1] and guards against NaN."""
    iterations = config.resolved_iterations
    image = start.detach().clone().requires_grad_(True)
    optimizer = _make_optimizer(config, image)
    last_good = image.detach().clone()
    parts_seen: dict[str, float] = {}

    def closure() -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        parts = objective(image)
        loss = parts.pop("total")
        value = float(loss.detach())
        if not math.isfinite(value):
            raise _NonFinite(value)
        loss.backward()
        parts_seen.clear()
        parts_seen.update({k: float(v.detach()) for k, v in parts.items()}, total=value)
        return loss

    for step in range(1, iterations + 1):
        started = time.perf_counter()
        try:
            optimizer.step(closure)
        except _NonFinite as exc:
            raise NonFiniteLossError(
                f"the loss became {exc.value} at iteration {done + step}; stopped and kept the "
                "last finite image (try a smaller --learning-rate or other weights)",
                image=render(last_good), iteration=done + step - 1,
            ) from None
        except KeyboardInterrupt:
            raise StylizeInterrupted(
                f"interrupted at iteration {done + step - 1}", render(last_good), done + step - 1
            ) from None
        with torch.no_grad():
            image.clamp_(0, 1)
            if not torch.isfinite(image).all():
                raise NonFiniteLossError(
                    f"the image became NaN at iteration {done + step}; kept the last finite image",
                    image=render(last_good), iteration=done + step - 1,
                )
        last_good = image.detach().clone()
        if callback is not None:
            h, w = image.shape[-2:]
            callback(Iterate(
                iteration=done + step, total_iterations=total, scale=scale, scales=scales,
                width=w, height=h, losses=dict(parts_seen), seconds=time.perf_counter() - started,
                _image=last_good, _render=render,
            ))
    return image.detach()


class _NonFinite(Exception):
    def __init__(self, value: float):
        super().__init__(value)
        self.value = value


def stylize(
    content: Image.Image | str | Path,
    style: Image.Image | str | Path | Sequence[Image.Image | str | Path],
    config: StylizeConfig | None = None,
    *,
    vgg: VGGFeatures | None = None,
    callback: ProgressCallback | None = None,
    **overrides,
) -> Image.Image:
    """Stylise ``content`` with one or several ``style`` images; returns a PIL image.

    >>> from brushwork import stylize, StylizeConfig
    >>> result = stylize("photo.jpg", "painting.jpg", StylizeConfig(size=256))  # doctest: +SKIP
    """
    config = config or StylizeConfig()
    if overrides:
        config = config.replace(**overrides)
    styles = [style] if isinstance(style, (Image.Image, str, Path)) else list(style)
    content_image = _as_image(content)
    style_images = [_as_image(s) for s in styles]
    return tensor_to_image(stylize_tensor(content_image, style_images, config, vgg=vgg, callback=callback))
