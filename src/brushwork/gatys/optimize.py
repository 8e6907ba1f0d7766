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
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image

from brushwork import losses
from brushwork.config import TOLERANCE_WINDOW, StylizeConfig
from brushwork.errors import ConfigError, NonFiniteLossError, StylizeInterrupted
from brushwork.images import (
    MIN_SIDE,
    check_side,
    image_to_tensor,
    open_image,
    resize_longest,
    resize_to,
    tensor_to_image,
    transfer_luminance,
)
from brushwork.networks.vgg import VGGFeatures, layer_names
from brushwork.networks.weights import load_vgg
from brushwork.precision import arithmetic, use_bf16
from brushwork.progress import Progress, ProgressCallback

LBFGS_HISTORY = 20
#: A step whose picture has more than this many times the lowest loss seen at its scale overshot:
#: L-BFGS without a line search can take one huge step from a bad curvature estimate (the demo's
#: 384 px scale: 3.8 -> 649 at its third step, and 20 steps did not bring the photo back). That step
#: is undone and the optimiser starts again from the picture before it with a fresh history.
OVERSHOOT = 2.0
#: Run the loss network channels-last on the CPU (see VGGFeatures.channels_last_): same numbers.
CHANNELS_LAST = True
MULTISCALE_MIN_SIZE = 256


#: An extra term of the objective: image [1, 3, h, w] at the current scale -> scalar tensor.
ExtraLoss = Callable[[torch.Tensor], torch.Tensor]
#: Builds the objective of one scale: (vgg, config, content [1, 3, h, w], style size) -> objective.
ObjectiveFactory = Callable[[VGGFeatures, StylizeConfig, torch.Tensor, int], "losses.PerceptualObjective"]


def scale_sizes(size: int, multiscale: bool) -> list[int]:
    """Output sizes of each scale, smallest first: halving from ``size`` down to ~256 px."""
    sizes = [size]
    if multiscale:
        floor = min(MULTISCALE_MIN_SIZE, size // 2)
        while sizes[0] // 2 >= max(floor, 16):
            sizes.insert(0, sizes[0] // 2)
    return sizes


def needed_side(config: StylizeConfig) -> int:
    """Smallest picture side the loss network takes for this run's layers: each pooling before the
    deepest layer halves it, and that layer needs one pixel (16 px to relu5_x, 32 px for pool5;
    at least 2, for the TV term)."""
    try:
        names = layer_names(config.model)
        deepest = max(names.index(n) for n in (*config.content_layers, *config.style_layers))
    except (ConfigError, ValueError):
        return MIN_SIDE  # an unknown layer is reported by the loss network, with its own message
    return max(2, 2 ** sum(n.startswith("pool") for n in names[: deepest + 1]))


def check_sizes(content: Image.Image, styles: Sequence[Image.Image], config: StylizeConfig,
                names: Sequence[str] | None = None) -> None:
    """Refuse, before the loss network is even loaded, a photo or painting too small or too thin for
    the network at the sizes it will be worked at (the first, smallest scale is the tightest)."""
    names = list(names or ["the photo", *(f"painting {i + 1}" for i in range(len(styles)))])
    need = needed_side(config)
    first = scale_sizes(config.size, config.resolved_multiscale)[0]
    what = "--size" if first == config.size else f"--size {config.size}, first scale"
    check_side(content, names[0], first, need, what)
    style_size = max(16, round(first * config.style_scale))
    for name, style in zip(names[1:], styles):
        check_side(style, name, style_size, need, "the painting's size")


def loss_network_for(config: StylizeConfig) -> VGGFeatures:
    """The loss network a run owns alone: only the layers its loss reads, stored in bf16 when the
    run is bf16 (what autocast would cast the weights to at every pass; see ``load_vgg``). A
    network shared with other code (the reference metrics) stays whole and fp32."""
    bf16 = use_bf16(config.precision, config.device)
    return load_vgg(config.model, config.weights, pooling=config.pooling, device=torch.device(config.device),
                    layers=config.content_layers + config.style_layers,
                    dtype=torch.bfloat16 if bf16 else torch.float32)


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


def converged(totals: Sequence[float], tolerance: float, window: int = TOLERANCE_WINDOW) -> bool:
    """True when the loss fell by less than ``tolerance`` (a fraction) per step over the last
    ``window`` steps: L-BFGS has found the basin and only polishes texture no one will see."""
    if tolerance <= 0 or len(totals) <= window:
        return False
    before, now = totals[-window - 1], totals[-1]
    return (before - now) / (window * max(abs(now), 1e-12)) < tolerance


def arbitrary_start(content_image: Image.Image, style_images: Sequence[Image.Image], config: StylizeConfig,
               size: tuple[int, int]) -> torch.Tensor:
    """``--init arbitrary``: the arbitrary-style network's picture of the photo (at the final size, then
    resized to the first scale's ``size``), so the optimiser starts with the painting's palette and
    strokes and only has to refine them."""
    from brushwork.fast.inference import paint  # lazy: it brings onnx and onnxruntime, for this init only

    picture = paint(None, resize_longest(content_image, config.size), styles=list(style_images),
                    config=config.to_apply_config())
    return image_to_tensor(resize_to(picture, *size), config.device)


def _initial_image(config: StylizeConfig, content: torch.Tensor, style: torch.Tensor | None) -> torch.Tensor:
    if config.init == "content":
        return content.clone()
    if config.init == "style":
        return F.interpolate(style, size=content.shape[-2:], mode="bicubic", align_corners=False).clamp(0, 1)
    generator = torch.Generator().manual_seed(config.seed)
    return torch.rand(content.shape, generator=generator).to(content)


def _blend_weights(style_images: Sequence[Image.Image], config: StylizeConfig) -> list[float]:
    """The paintings' weights in the style loss (equal unless ``style_blend_weights``), checked."""
    if not style_images:
        raise ConfigError("at least one style image is needed")
    blend = list(config.style_blend_weights or [1.0] * len(style_images))
    if len(blend) != len(style_images):
        raise ConfigError(f"{len(blend)} style blend weights for {len(style_images)} style images")
    return blend


def _finisher(final_content: torch.Tensor, config: StylizeConfig) -> Callable[[torch.Tensor], torch.Tensor]:
    """What turns a scale's picture into the result: the final size (a coarser scale's is upsampled),
    colours kept if asked (``final_content``: the photo at the final size)."""

    def finish(tensor: torch.Tensor) -> torch.Tensor:
        if tensor.shape[-2:] != final_content.shape[-2:]:
            tensor = F.interpolate(tensor, size=final_content.shape[-2:], mode="bicubic",
                                   align_corners=False).clamp(0, 1)
        if config.preserve_colors:
            tensor = transfer_luminance(tensor, final_content)
        return tensor

    return finish


def _scale_start(image: torch.Tensor | None, start: torch.Tensor | None, content: torch.Tensor,
                 scaled: Image.Image, content_image: Image.Image, style_images: Sequence[Image.Image],
                 config: StylizeConfig) -> torch.Tensor:
    """Where a scale's optimisation starts: the previous scale's picture upscaled, or at the first
    scale ``start`` (resized), the fast network's picture (``--init fast``) or ``config.init``."""
    device = content.device
    if image is not None:
        return upscale_with_detail(image, content, config.scale_detail)
    if start is not None:
        return F.interpolate(start.to(device), size=content.shape[-2:], mode="bicubic",
                             align_corners=False).clamp(0, 1)
    if config.init == "arbitrary":
        return arbitrary_start(content_image, style_images, config, scaled.size)
    # Only --init style needs the painting at the photo's size (seconds for a huge painting).
    first_style = (image_to_tensor(resize_to(style_images[0], *scaled.size), device)
                   if config.init == "style" else None)
    return _initial_image(config, content, first_style)


def optimize_tensor(
    content_image: Image.Image,
    style_images: Sequence[Image.Image],
    config: StylizeConfig,
    vgg: VGGFeatures | None = None,
    callback: ProgressCallback | None = None,
    *,
    start: torch.Tensor | None = None,
    extra_loss: ExtraLoss | None = None,
    objective_factory: ObjectiveFactory | None = None,
) -> torch.Tensor:
    """Run the optimisation; returns the result as a tensor [1, 3, H, W] in [0, 1].

    ``start`` ([1, 3, H, W] in [0, 1], any size) replaces ``config.init`` as the starting picture
    (resized to the first scale), e.g. the previous video frame's result warped by the flow.
    ``extra_loss(image)`` is added to the objective at every step, with the image at the current
    scale (a temporal loss, say); the progress losses show it as ``extra``. ``objective_factory(vgg,
    config, content, style_size)`` replaces :func:`make_objective` at every scale (regions: guided Grams)."""
    blend = _blend_weights(style_images, config)
    check_sizes(content_image, style_images, config)
    torch.manual_seed(config.seed)
    device = torch.device(config.device)
    bf16 = use_bf16(config.precision, device)  # the loss network's arithmetic; the picture stays fp32
    if vgg is None:
        vgg = loss_network_for(config)
    if CHANNELS_LAST and device.type == "cpu":
        vgg.channels_last_()
    sizes = scale_sizes(config.size, config.resolved_multiscale)
    schedule = config.iterations_per_scale(len(sizes))
    total = sum(schedule)
    finish = _finisher(image_to_tensor(resize_longest(content_image, config.size), device), config)

    def render(tensor: torch.Tensor) -> Image.Image:
        return tensor_to_image(finish(tensor))

    image: torch.Tensor | None = None
    done = 0
    try:
        for scale_index, size in enumerate(sizes):
            scaled = resize_longest(content_image, size)
            content = image_to_tensor(scaled, device)
            style_size = max(16, round(size * config.style_scale))
            styles = [image_to_tensor(resize_longest(s, style_size), device) for s in style_images]
            with arithmetic(bf16):
                objective = (make_objective(vgg, config, content, styles, blend) if objective_factory is None
                             else objective_factory(vgg, config, content, style_size))
            image = _scale_start(image, start, content, scaled, content_image, style_images, config)
            image = _optimize_scale(objective, image, config, render, callback, schedule[scale_index],
                                    done=done, total=total, scale=scale_index, scales=len(sizes),
                                    extra_loss=extra_loss, bf16=bf16)
            done += schedule[scale_index]
    except KeyboardInterrupt:  # between steps (a new scale's targets): keep the last scale's picture
        if image is None:
            raise
        raise StylizeInterrupted(f"interrupted at iteration {done}", render(image.detach()), done) from None
    assert image is not None
    return finish(image.detach())


def _optimize_scale(
    objective: losses.PerceptualObjective,
    start: torch.Tensor,
    config: StylizeConfig,
    render: Callable[[torch.Tensor], Image.Image],
    callback: ProgressCallback | None,
    iterations: int,
    *,
    done: int,
    total: int,
    scale: int,
    scales: int,
    extra_loss: ExtraLoss | None = None,
    bf16: bool = False,
) -> torch.Tensor:
    """At most ``iterations`` optimiser steps from ``start``, fewer when the loss stops falling
    (``config.resolved_tolerance``); clamps to [0, 1] and guards against NaN.

    ``bf16`` runs the loss network's forward pass under bf16 autocast (its backward follows);
    the optimiser's own maths (L-BFGS's history products, line search) stays fp32."""
    tolerance = config.resolved_tolerance
    totals: list[float] = []
    image = start.detach().clone().requires_grad_(True)
    optimizer = _make_optimizer(config, image)
    last_good = image.detach().clone()
    before_last = last_good  # the picture before the last step: where an overshoot goes back to
    parts_seen: dict[str, float] = {}
    closure = _closure(objective, image, extra_loss, bf16, totals, parts_seen)
    completed = 0  # steps finished at this scale; Ctrl-C anywhere in a step keeps their picture
    try:
        for step in range(1, iterations + 1):
            started = time.perf_counter()
            optimizer = _guarded_step(optimizer, closure, image, (before_last, last_good), config, render,
                                      done + step)
            before_last, last_good = last_good, image.detach().clone()
            completed = step
            totals.append(parts_seen["total"])
            stop = converged(totals, tolerance)
            if callback is not None:
                h, w = image.shape[-2:]
                callback(Progress(
                    done + step, total, "it", losses=dict(parts_seen), scale=scale, scales=scales,
                    width=w, height=h, seconds=time.perf_counter() - started, converged=stop,
                    render=partial(render, last_good),
                ))
            if stop:
                break
    except KeyboardInterrupt:
        raise StylizeInterrupted(f"interrupted at iteration {done + completed}", render(last_good),
                                 done + completed) from None
    return image.detach()


def _closure(objective: losses.PerceptualObjective, image: torch.Tensor, extra_loss: ExtraLoss | None,
             bf16: bool, totals: list[float], parts_seen: dict[str, float]) -> Callable[[], torch.Tensor]:
    """The optimiser's closure: the loss of ``image`` and its gradient, the parts landing in
    ``parts_seen``. A non-finite loss raises ``_NonFinite``; one far above the lowest yet ``_Overshoot``."""

    def closure() -> torch.Tensor:
        image.grad = None  # the optimiser's zero_grad(set_to_none=True): the picture is its one parameter
        with arithmetic(bf16):
            parts = objective(image)
            if extra_loss is not None:
                parts["extra"] = extra_loss(image)
                parts["total"] = parts["total"] + parts["extra"]
        loss = parts.pop("total")
        value = float(loss.detach())
        if not math.isfinite(value):
            raise _NonFinite(value)
        if totals and value > OVERSHOOT * min(totals):
            raise _Overshoot()
        loss.backward()
        parts_seen.clear()
        parts_seen.update({k: float(v.detach()) for k, v in parts.items()}, total=value)
        return loss

    return closure


def _guarded_step(optimizer: torch.optim.Optimizer, closure: Callable[[], torch.Tensor], image: torch.Tensor,
                  kept: tuple[torch.Tensor, torch.Tensor], config: StylizeConfig,
                  render: Callable[[torch.Tensor], Image.Image], iteration: int) -> torch.optim.Optimizer:
    """Step ``iteration``; returns the optimiser to go on with. An overshoot goes back to the picture
    before the last step (``kept``: it, then the last good one) with a fresh optimiser; a NaN loss or
    picture raises ``NonFiniteLossError`` with the last good picture."""
    before_last, last_good = kept
    try:
        try:
            optimizer.step(closure)
        except _Overshoot:
            with torch.no_grad():
                image.copy_(before_last)
            optimizer = _make_optimizer(config, image)
            optimizer.step(closure)  # a fresh L-BFGS takes a small first step
    except _NonFinite as exc:
        raise NonFiniteLossError(
            f"the loss became {exc.value} at iteration {iteration}; stopped and kept the "
            "last finite image (try a smaller --learning-rate or other weights)",
            image=render(last_good), iteration=iteration - 1,
        ) from None
    with torch.no_grad():
        image.clamp_(0, 1)
        if not torch.isfinite(image).all():
            raise NonFiniteLossError(
                f"the image became NaN at iteration {iteration}; kept the last finite image",
                image=render(last_good), iteration=iteration - 1,
            )
    return optimizer


def upscale_with_detail(image: torch.Tensor, content: torch.Tensor, amount: float) -> torch.Tensor:
    """The picture of the previous scale at ``content``'s size, plus ``amount`` of the photo's own
    detail in the band that scale could not hold (``content`` minus its down-and-up copy).

    Plain upsampling leaves a soft picture that the few steps of the larger scale re-texture but
    never re-sharpen: the photo's edges stay lost (astronaut x Starry Night at 512 px: SSIM 0.309,
    0.89x the peer's 300-step run; with the detail 0.346, 0.99x, and more of the painting, not less).
    """
    up = F.interpolate(image, size=content.shape[-2:], mode="bicubic", align_corners=False)
    if amount > 0:
        low = F.interpolate(F.interpolate(content, size=image.shape[-2:], mode="area"),
                            size=content.shape[-2:], mode="bicubic", align_corners=False)
        up = up + amount * (content - low)
    return up.clamp(0, 1)


class _Overshoot(Exception):
    """The picture the last step made has far more loss than the scale's best (``OVERSHOOT``)."""


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
    start: torch.Tensor | None = None,
    extra_loss: ExtraLoss | None = None,
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
    return tensor_to_image(optimize_tensor(content_image, style_images, config, vgg=vgg, callback=callback,
                                          start=start, extra_loss=extra_loss))
