"""Frozen dataclass configs: the one home of every default.

The CLI derives its flags from these fields (their ``help`` metadata), the Python API takes
them directly and the web app fills them from a form, so a default is written once, here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

from brushwork.errors import ConfigError

OPTIMIZERS = ("lbfgs", "adam")
INITS = ("content", "style", "random")
MODELS = ("vgg16", "vgg19")
POOLINGS = ("max", "avg")

#: Iterations and learning rate when the user gives none: L-BFGS converges in far fewer steps.
DEFAULT_ITERATIONS = {"lbfgs": 300, "adam": 600}
DEFAULT_LEARNING_RATE = {"lbfgs": 1.0, "adam": 0.02}
#: Above this output size, multi-scale optimisation is switched on unless asked otherwise.
MULTISCALE_AUTO_ABOVE = 512
#: Largest output side accepted: one VGG19 pass at 4096 px needs roughly 20 GB of activations.
MAX_SIZE = 4096


def _help(text: str, **kw):
    return field(metadata={"help": text}, **kw)


@dataclass(frozen=True)
class StylizeConfig:
    """Settings of one Gatys stylisation.

    Losses are normalised by the magnitude of their targets (see ``brushwork.losses``), so the
    weights below mean the same for every weight source and layer choice: a style weight of
    2 with content weight 1 gives a clearly painted picture in which the photo stays
    recognisable; 0.3 is a light touch, 30 is mostly texture.
    """

    content_weight: float = _help("weight of the content (feature) loss", default=1.0)
    style_weight: float = _help(
        "weight of the Gram style loss; x10 gives visibly stronger texture", default=2.0
    )
    tv_weight: float = _help(
        "weight of the total-variation loss (smoothness); 0 turns it off", default=1e-2
    )
    optimizer: Literal["lbfgs", "adam"] = _help("optimiser", default="lbfgs")
    iterations: int | None = _help(
        "iterations per scale (default: 300 for lbfgs, 600 for adam)", default=None
    )
    learning_rate: float | None = _help(
        "step size (default: 1.0 for lbfgs, 0.02 for adam on [0,1] pixels)", default=None
    )
    model: Literal["vgg16", "vgg19"] = _help("loss network", default="vgg19")
    weights: str = _help(
        "weight source: default (offline caffe VGG19), torchvision, caffe, random, or a file",
        default="default",
    )
    pooling: Literal["max", "avg"] = _help("pooling in the loss network", default="max")
    content_layers: tuple[str, ...] = _help("layers of the content loss", default=("relu4_2",))
    style_layers: tuple[str, ...] = _help(
        "layers of the style loss; NAME or NAME:WEIGHT",
        default=("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"),
    )
    style_layer_weights: tuple[float, ...] | None = _help(
        "per-style-layer weights (default: equal)", default=None
    )
    init: Literal["content", "style", "random"] = _help("starting image", default="content")
    seed: int = _help("random seed (runs are deterministic on CPU)", default=0)
    size: int = _help("longest side of the output in pixels (aspect ratio kept)", default=512)
    style_scale: float = _help(
        "size of the style image relative to the output; <1 gives larger brush strokes",
        default=1.0,
    )
    style_blend_weights: tuple[float, ...] | None = _help(
        "relative weights of several style images (default: equal)", default=None
    )
    preserve_colors: bool = _help(
        "keep the photo's colours: luminance transfer (YCbCr: result's Y, photo's CbCr)",
        default=False,
    )
    multiscale: bool | None = _help(
        "optimise at half size first, then refine (default: on above 512 px)", default=None
    )
    save_every: int = _help("write OUT_NNNN.png and the losses CSV every N iterations", default=0)
    device: str = _help("torch device", default="cpu")

    def __post_init__(self) -> None:
        # Fold "relu1_1:0.5,relu2_1" specs into plain names + weights, so the config is explicit.
        style_layers, spec_weights = parse_layer_spec(self.style_layers)
        content_layers, _ = parse_layer_spec(self.content_layers)
        object.__setattr__(self, "style_layers", style_layers)
        object.__setattr__(self, "content_layers", content_layers)
        if spec_weights is not None and self.style_layer_weights is None:
            object.__setattr__(self, "style_layer_weights", spec_weights)
        validate_stylize_config(self)

    # Derived values: kept as properties so no two copies of a default exist.
    @property
    def resolved_iterations(self) -> int:
        return self.iterations if self.iterations is not None else DEFAULT_ITERATIONS[self.optimizer]

    @property
    def resolved_learning_rate(self) -> float:
        if self.learning_rate is not None:
            return self.learning_rate
        return DEFAULT_LEARNING_RATE[self.optimizer]

    @property
    def resolved_multiscale(self) -> bool:
        return self.multiscale if self.multiscale is not None else self.size > MULTISCALE_AUTO_ABOVE

    def replace(self, **changes) -> StylizeConfig:
        return dataclasses.replace(self, **changes)


def parse_layer_spec(
    specs: tuple[str, ...] | list[str] | str,
) -> tuple[tuple[str, ...], tuple[float, ...] | None]:
    """Split ``relu1_1:0.5,relu2_1`` style specs into names and weights (None if none given)."""
    if isinstance(specs, str):
        specs = (specs,)
    names: list[str] = []
    weights: list[float] = []
    any_weight = False
    for spec in specs:
        for part in spec.replace(" ", ",").split(","):
            if not part:
                continue
            name, _, weight = part.partition(":")
            names.append(name.strip())
            if weight:
                any_weight = True
                try:
                    weights.append(float(weight))
                except ValueError:
                    raise ConfigError(f"layer weight {weight!r} of {name!r} is not a number") from None
            else:
                weights.append(1.0)
    return tuple(names), (tuple(weights) if any_weight else None)


def validate_stylize_config(config: StylizeConfig) -> None:
    """Reject values that can only produce garbage, with a message saying which and why."""
    for name in ("content_weight", "style_weight", "tv_weight"):
        value = getattr(config, name)
        if not value >= 0 or value == float("inf"):
            raise ConfigError(f"{name.replace('_', '-')} must be a finite number >= 0, got {value}")
    if config.optimizer not in OPTIMIZERS:
        raise ConfigError(f"unknown optimizer {config.optimizer!r}; choose from {', '.join(OPTIMIZERS)}")
    if config.init not in INITS:
        raise ConfigError(f"unknown init {config.init!r}; choose from {', '.join(INITS)}")
    if config.model not in MODELS:
        raise ConfigError(f"unknown model {config.model!r}; choose from {', '.join(MODELS)}")
    if config.pooling not in POOLINGS:
        raise ConfigError(f"unknown pooling {config.pooling!r}; choose from {', '.join(POOLINGS)}")
    if config.iterations is not None and config.iterations < 1:
        raise ConfigError(f"iterations must be >= 1, got {config.iterations}")
    if config.learning_rate is not None and not config.learning_rate > 0:
        raise ConfigError(f"learning-rate must be > 0, got {config.learning_rate}")
    if not 16 <= config.size <= MAX_SIZE:
        raise ConfigError(
            f"size {config.size} is out of range: use --size between 16 and {MAX_SIZE} "
            "(memory grows with the square of the size; 512 takes ~1.5 GB)"
        )
    if not 0.05 <= config.style_scale <= 4:
        raise ConfigError(f"style-scale must be between 0.05 and 4, got {config.style_scale}")
    if config.save_every < 0:
        raise ConfigError(f"save-every must be >= 0, got {config.save_every}")
    if not config.content_layers and config.content_weight > 0:
        raise ConfigError("content-layers is empty but content-weight > 0")
    if not config.style_layers:
        raise ConfigError("style-layers must name at least one layer")
    from brushwork.networks.vgg import layer_names

    known = layer_names(config.model)
    for name in config.style_layers + config.content_layers:
        if name not in known:
            raise ConfigError(
                f"unknown layer {name!r} for {config.model}; layers are named like relu4_2 "
                f"(valid: {', '.join(n for n in known if n.startswith('relu'))})"
            )
    if config.style_layer_weights is not None:
        if len(config.style_layer_weights) != len(config.style_layers):
            raise ConfigError(
                f"{len(config.style_layer_weights)} style layer weights for "
                f"{len(config.style_layers)} style layers"
            )
        if any(not w >= 0 for w in config.style_layer_weights):
            raise ConfigError("style layer weights must be >= 0")
    if config.style_blend_weights is not None and (
        any(not w >= 0 for w in config.style_blend_weights) or sum(config.style_blend_weights) <= 0
    ):
        raise ConfigError("style-blend-weights must be >= 0 and not all zero")
